//! Log search latency at shore: the same lines and the same mix of searches as the
//! `log_search` example (the ship's embedded index), answered from ClickHouse by
//! [`clickhouse_search`](seawatch_actors::store::clickhouse_search) as the shore's
//! `GET /api/logs` does (HTTP and JSON left out; decision 0077).
//!
//! `cargo run --release -p seawatch-actors --example log_search_clickhouse -- URL [HOURS]
//! [RATE] [reuse]` (default 1 h at 2,000 events/s) drops and refills the table
//! `seawatch_bench.events` on the ClickHouse server at URL (e.g. one started by
//! `deploy/scripts/clickhouse-test-server.sh`) with HOURS h of one ship's lines at RATE
//! events/s, then times the mix, 40 searches of each kind with random ends from a seed
//! drawn at start (printed). `reuse` keeps a table filled by an earlier run with the same
//! HOURS and RATE. Prints p50/p95/max per search and over all of them, the fill rate and
//! the table's size on disk.

use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use seawatch_actors::store::clickhouse_search;
use seawatch_actors::store::search;
use seawatch_actors::store::{ClickHouseConfig, ClickHouseSink, Query};
use seawatch_runtime::event_log::Event;

#[path = "common/log_lines.rs"]
mod log_lines;

use log_lines::T0;

const SHIP: &str = "bench-ship";

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args.first().expect("URL of a ClickHouse server").clone();
    let hours: f64 = args.get(1).map_or(1.0, |a| a.parse().expect("HOURS"));
    let rate: u64 = args.get(2).map_or(2000, |a| a.parse().expect("RATE"));
    let reuse = args.get(3).is_some_and(|a| a == "reuse");
    let seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        % 1_000_000_007;
    println!("seed {seed}; {hours} h at {rate} events/s in {url} (reuse: {reuse})");
    let mut rng = SmallRng::seed_from_u64(seed);
    let total = (hours * 3600.0 * rate as f64) as u64;
    let span_ms = (hours * 3_600_000.0) as i64;

    let mut cfg = ClickHouseConfig::new(url);
    cfg.database = "seawatch_bench".into();
    cfg.batch_max_events = 200_000;
    cfg.request_timeout = std::time::Duration::from_secs(600);
    let sink = ClickHouseSink::new(cfg).unwrap();
    if !reuse {
        sink.ensure_schema().await.unwrap();
        sink.client()
            .query("DROP TABLE IF EXISTS events")
            .execute()
            .await
            .unwrap();
        sink.ensure_schema().await.unwrap();
        let t = Instant::now();
        let batch = 200_000u64;
        let mut n = 0u64;
        while n < total {
            let events: Vec<Event> = (n..(n + batch).min(total))
                .map(|i| {
                    let e = log_lines::event(&mut rng, i, total, span_ms);
                    Event {
                        seq: i + 1,
                        ts_ms: e.ts_ms,
                        kind: e.kind,
                        source: e.source,
                        severity: e.severity,
                        body: e.body,
                    }
                })
                .collect();
            n += events.len() as u64;
            sink.insert(&events, SHIP).await.unwrap();
        }
        let fill_s = t.elapsed().as_secs_f64();
        println!(
            "filled {total} events in {fill_s:.0} s ({:.0}/s)",
            total as f64 / fill_s
        );
    }
    let (parts, rows, bytes): (u64, u64, u64) = sink
        .client()
        .query(
            "SELECT count(), sum(rows), sum(bytes) FROM system.parts \
             WHERE database = 'seawatch_bench' AND table = 'events' AND active",
        )
        .fetch_one()
        .await
        .unwrap();
    println!(
        "table: {rows} rows in {parts} active parts, {:.0} MB on disk ({:.1} B/event)",
        bytes as f64 / 1e6,
        bytes as f64 / rows.max(1) as f64
    );

    let ships = vec![SHIP.to_owned()];
    let end = T0 + span_ms;
    let mut rows = Vec::new();
    let mut all = Vec::new();
    for (name, q, whole) in log_lines::SEARCHES {
        let parsed = search::parse(q).unwrap();
        let mut times = Vec::new();
        let mut found = 0;
        for _ in 0..40 {
            let (from, to) = if whole {
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
            let got = clickhouse_search::search(&sink, &ships, &query)
                .await
                .unwrap();
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            times.push(ms);
            all.push(ms);
            found += got.len();
        }
        rows.push((
            name,
            pct(&mut times.clone(), 0.5),
            pct(&mut times.clone(), 0.95),
            pct(&mut times, 1.0),
            found / 40,
        ));
    }
    println!("| search | p50 ms | p95 ms | max ms | lines |");
    println!("|---|---|---|---|---|");
    for (name, p50, p95, max, found) in rows {
        println!("| {name} | {p50:.1} | {p95:.1} | {max:.1} | {found} |");
    }
    println!(
        "all {} searches: p50 {:.1} ms, p95 {:.1} ms",
        all.len(),
        pct(&mut all.clone(), 0.5),
        pct(&mut all, 0.95)
    );
}
