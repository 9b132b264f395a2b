//! Detector cost: one ensemble update per sample (the one configuration the device
//! detectors run and `nab run` scores, and the same without its sequence memory and ART
//! gate), the other per-series pieces (ADWIN, capacity forecast), the
//! isolation forest per device row, and the detector actor's whole per-sample path
//! (a scrape of 20 series of one device). Also prints the bytes held per series,
//! measured with a counting allocator and as the detectors account them
//! (`seawatch_detector_bytes`).
//!
//! `cargo bench -p seawatch-actors --bench detect -- --warm-up-time 1 --measurement-time 3`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seawatch_actors::alert::AlertSink;
use seawatch_actors::detect::actor::{DetectorArgs, DetectorConfig, DetectorState, Sample};
use seawatch_actors::detect::{
    Adwin, CapacityForecast, Ensemble, EnsembleConfig, ForecastConfig, IForestConfig,
    IsolationForest,
};

/// Counts live heap bytes, to report memory per series.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Deterministic noise (xorshift64*), roughly uniform in [-0.5, 0.5).
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

/// Value `i` of a noisy daily cycle sampled every minute.
fn value(i: u64, noise: &mut Noise) -> (f64, f64) {
    let t = 1_700_000_000.0 + 60.0 * i as f64;
    let day = (t % 86_400.0) / 86_400.0 * std::f64::consts::TAU;
    (t, 50.0 + 10.0 * day.sin() + 2.0 * noise.next())
}

fn detector_ensemble() -> EnsembleConfig {
    DetectorConfig::default().ensemble
}

/// The configuration without the sequence memory and the ART gate (their cost).
fn without_seq_art() -> EnsembleConfig {
    EnsembleConfig {
        seq_levels: 0,
        art_dim: 0,
        ..EnsembleConfig::default()
    }
}

fn per_series(c: &mut Criterion) {
    let mut g = c.benchmark_group("per_series_update");
    g.throughput(Throughput::Elements(1));
    for (name, cfg) in [
        ("ensemble", detector_ensemble()),
        ("ensemble_without_seq_art", without_seq_art()),
    ] {
        let mut e = Ensemble::new(cfg);
        let mut noise = Noise(7);
        let mut i = 0u64;
        // Past warm-up and with a full history, as in steady state.
        while i < 8_000 {
            let (t, x) = value(i, &mut noise);
            e.update(t, x);
            i += 1;
        }
        g.bench_function(name, |b| {
            b.iter(|| {
                let (t, x) = value(i, &mut noise);
                i += 1;
                black_box(e.update(t, x))
            })
        });
    }
    let mut a = Adwin::new(0.002, 2000);
    let mut noise = Noise(8);
    let mut i = 0u64;
    g.bench_function("adwin", |b| {
        b.iter(|| {
            let (_, x) = value(i, &mut noise);
            i += 1;
            black_box(a.update(x))
        })
    });
    let mut f = CapacityForecast::new(ForecastConfig::default());
    g.bench_function("capacity_forecast", |b| {
        b.iter(|| {
            i += 1;
            black_box(f.update(60.0 * i as f64, 1e12 - 1e3 * i as f64))
        })
    });
    g.finish();
}

fn forest(c: &mut Criterion) {
    let mut g = c.benchmark_group("device_row");
    g.throughput(Throughput::Elements(1));
    let mut f = IsolationForest::new(IForestConfig::default(), 8);
    let mut noise = Noise(9);
    let mut row = [0.0; 8];
    g.bench_function("iforest_8_features_incl_retrain", |b| {
        b.iter(|| {
            for v in &mut row {
                *v = noise.next();
            }
            black_box(f.update(&row))
        })
    });
    g.finish();
}

const SERIES: usize = 20;

fn keys() -> Vec<Arc<str>> {
    (0..SERIES)
        .map(|k| match k {
            0 => Arc::from("device_cpu_percent"),
            1 => Arc::from("device_temperature_celsius"),
            2 => Arc::from("node_filesystem_avail_bytes mountpoint=/"),
            k if k % 2 == 0 => Arc::from(format!("ifHCInOctets ifName=Gi1/0/{k}")),
            k => Arc::from(format!("ifInErrors ifName=Gi1/0/{k}")),
        })
        .collect()
}

fn scrape(keys: &[Arc<str>], i: u64, noise: &mut Noise) -> Vec<Sample> {
    let (t, x) = value(i, noise);
    keys.iter()
        .enumerate()
        .map(|(k, key)| Sample {
            ts_ms: (t * 1000.0) as i64,
            series: key.clone(),
            value: if k >= 3 {
                // counters
                (i as f64) * (1000.0 + k as f64) + x
            } else {
                x * (k + 1) as f64
            },
        })
        .collect()
}

fn actor_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("detector_actor");
    g.throughput(Throughput::Elements(SERIES as u64));
    let mut st = DetectorState::new(DetectorArgs::new("s", "d", "switch", AlertSink::none()));
    let keys = keys();
    let mut noise = Noise(10);
    let mut i = 0u64;
    while i < 2_000 {
        st.observe(&scrape(&keys, i, &mut noise));
        i += 1;
    }
    g.bench_function("observe_scrape_of_20_series", |b| {
        b.iter(|| {
            let batch = scrape(&keys, i, &mut noise);
            i += 1;
            st.observe(black_box(&batch));
        })
    });
    g.finish();
}

/// Live heap bytes held by what `build` returns (built and fed inside).
fn held<T>(build: impl FnOnce() -> T) -> (T, isize) {
    let before = LIVE.load(Ordering::Relaxed);
    let t = build();
    (t, LIVE.load(Ordering::Relaxed) - before)
}

fn memory(_c: &mut Criterion) {
    for (name, cfg) in [
        ("ensemble", detector_ensemble()),
        (
            "ensemble without sequence memory and ART gate",
            without_seq_art(),
        ),
    ] {
        let (e, bytes) = held(|| {
            let mut e = Ensemble::new(cfg);
            let mut noise = Noise(11);
            for i in 0..10_000 {
                let (t, x) = value(i, &mut noise);
                e.update(t, x);
            }
            e
        });
        black_box(&e);
        eprintln!(
            "memory: {name}: {bytes} bytes per series after 10,000 samples (accounted: {})",
            e.memory_bytes()
        );
    }
    let keys = keys();
    let (st, bytes) = held(|| {
        let mut st = DetectorState::new(DetectorArgs::new("s", "d", "switch", AlertSink::none()));
        let mut noise = Noise(12);
        for i in 0..10_000 {
            st.observe(&scrape(&keys, i, &mut noise));
        }
        st
    });
    black_box(&st);
    eprintln!(
        "memory: detector state with {SERIES} series after 10,000 scrapes: {bytes} bytes, {} bytes per series (incl. the device's isolation forest); accounted {} bytes, {} per series",
        bytes / SERIES as isize,
        st.memory_bytes(),
        st.memory_bytes() / SERIES
    );
}

criterion_group!(benches, memory, per_series, forest, actor_path);
criterion_main!(benches);
