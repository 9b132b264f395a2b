//! Log search latency over a busy ship's event log (issue 19's goal: p95 ≤ 200 ms over
//! 24 h of a 2,000 events/s ship), through the embedded [`LogIndex`] as `GET /api/logs`
//! uses it (HTTP and JSON left out).
//!
//! `cargo run --release -p seawatch-actors --example log_search -- [HOURS] [RATE] [DIR]`
//! (default 2 h at 2,000 events/s in a temporary directory) fills an event log with
//! syslog-like lines of 300 devices (100 busy ones, skewed so that a few firewalls and
//! switches are chatty, and 200 quiet ones writing a line every 100 s; switch, firewall,
//! Wi-Fi and Linux templates with changing ids, addresses, counters and users; 1 line in
//! 10 a warning or worse; one line in 2 M holds the rare word `segfault`), builds the index (default bounds) and times a
//! mix of searches over the whole range and the last hour, 40 each with random ends
//! from a seed drawn at start (printed). Prints p50/p95/max per search, events read,
//! blocks skipped, index memory per event, and the fill and index rates.

use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use seawatch_actors::store::search;
use seawatch_actors::store::{IndexConfig, LogIndex, Query};
use seawatch_runtime::event_log::{EventLog, EventLogConfig, FsyncPolicy, NewEvent};

#[path = "common/log_lines.rs"]
mod log_lines;

use log_lines::T0;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hours: f64 = args.first().map_or(2.0, |a| a.parse().expect("HOURS"));
    let rate: u64 = args.get(1).map_or(2000, |a| a.parse().expect("RATE"));
    let tmp = tempfile::tempdir().unwrap();
    let dir = args
        .get(2)
        .map_or(tmp.path().to_path_buf(), std::path::PathBuf::from);
    let seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007;
    println!(
        "seed {seed}; {hours} h at {rate} events/s into {}",
        dir.display()
    );
    let mut rng = SmallRng::seed_from_u64(seed);
    let total = (hours * 3600.0 * rate as f64) as u64;
    let span_ms = (hours * 3_600_000.0) as i64;

    let mut cfg = EventLogConfig::new("bench-ship");
    cfg.fsync = FsyncPolicy::Never;
    let mut log = EventLog::open(&dir, cfg).unwrap();
    let t = Instant::now();
    let batch = 2000u64;
    let mut n = 0u64;
    while n < total {
        let events: Vec<NewEvent> = (n..(n + batch).min(total))
            .map(|i| log_lines::event(&mut rng, i, total, span_ms))
            .collect();
        n += events.len() as u64;
        log.append_batch(events).unwrap();
    }
    log.sync().unwrap();
    let fill_s = t.elapsed().as_secs_f64();
    let bytes = log.stats();
    println!(
        "filled {total} events in {fill_s:.0} s ({:.0}/s); log {} MB in {} segments",
        total as f64 / fill_s,
        bytes.bytes / 1_000_000,
        bytes.segments
    );

    let t = Instant::now();
    let mut idx = LogIndex::new(IndexConfig::default());
    idx.catch_up(&log).unwrap();
    let index_s = t.elapsed().as_secs_f64();
    let s = idx.stats();
    println!(
        "indexed in {index_s:.0} s ({:.0}/s): {} blocks, {} entries, word filters {:.1} MB = {:.2} B/event, rare-key lines {:.1} MB = {:.2} B/event",
        total as f64 / index_s,
        s.blocks,
        s.entries,
        s.bloom_bytes as f64 / 1e6,
        s.bloom_bytes as f64 / total as f64,
        s.postings_bytes as f64 / 1e6,
        s.postings_bytes as f64 / total as f64
    );

    let end = T0 + span_ms;
    let mut rows = Vec::new();
    let mut all = Vec::new();
    for (name, q, whole) in log_lines::SEARCHES {
        let parsed = search::parse(q).unwrap();
        let mut times = Vec::new();
        let mut found = 0;
        let before = idx.stats();
        for _ in 0..40 {
            let (from, to) = if whole {
                // The whole range, its end anywhere in the last hour (a live search).
                (
                    T0 - 1,
                    end - rng.random_range(0..3_600_000.min(span_ms / 8)),
                )
            } else {
                let to = end - rng.random_range(0..600_000);
                (to - 3_600_000, to)
            };
            let mut query = Query::new(from, to, 100).text(parsed.text.clone());
            query.device = parsed.device.clone();
            query.min_severity = parsed.min_severity;
            query.kind = parsed.kind;
            let t = Instant::now();
            let got = idx.query(&log, &query).unwrap();
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            times.push(ms);
            all.push(ms);
            found += got.len();
        }
        let after = idx.stats();
        rows.push((
            name,
            pct(&mut times.clone(), 0.5),
            pct(&mut times.clone(), 0.95),
            pct(&mut times, 1.0),
            found / 40,
            (after.scanned_events - before.scanned_events) / 40,
            (after.skipped_blocks - before.skipped_blocks) / 40,
        ));
    }
    println!("| search | p50 ms | p95 ms | max ms | lines | events read | blocks skipped |");
    println!("|---|---|---|---|---|---|---|");
    for (name, p50, p95, max, found, read, skipped) in rows {
        println!("| {name} | {p50:.1} | {p95:.1} | {max:.1} | {found} | {read} | {skipped} |");
    }
    println!(
        "all {} searches: p50 {:.1} ms, p95 {:.1} ms",
        all.len(),
        pct(&mut all.clone(), 0.5),
        pct(&mut all, 0.95)
    );
}
