//! The shore's fleet log in a real ClickHouse server: ship batches applied through the
//! shore land once each by (ship, seq), also when a restarted shore re-applies a batch
//! whose events were stored before the crash but whose position was not; the
//! `seawatch_shore_events_total{ship}` counter reads the distinct events stored.
//!
//! The server comes from `deploy/scripts/clickhouse-test-server.sh` (Debian's
//! `clickhouse-server`, installed if missing), or `SEAWATCH_CLICKHOUSE_URL`. Without one
//! the test says so and passes, except under `CI=true`, where it fails.

use std::sync::Arc;

use seawatch_actors::store::ClickHouseConfig;
use seawatch_actors::sync::clickhouse::ClickHouseFleetStore;
use seawatch_actors::sync::metrics::SyncMetrics;
use seawatch_actors::sync::shore::{FleetStore, Shore};
use seawatch_actors::sync::wire::{Batch, Down, Lane, Up};
use seawatch_runtime::event_log::{Event, EventKind};
use seawatch_runtime::Metrics;

const SHIP: &str = "aurora";
const T0: i64 = 1_764_000_000_000;

/// Events `from..end` of the bulk lane (logs).
fn events(from: u64, end: u64) -> Vec<Event> {
    (from..end)
        .map(|seq| Event {
            seq,
            ts_ms: T0 + seq as i64 * 250,
            kind: EventKind::Log,
            source: format!("dev-{}", seq % 7),
            severity: 5,
            body: format!(
                "%LINK-3-UPDOWN: Interface Gi1/0/{}, changed state",
                seq % 48
            ),
        })
        .collect()
}

fn batch(from: u64, end: u64) -> Up {
    Up::Batch(Batch::build(SHIP, Lane::Bulk, from, end, &events(from, end)).unwrap())
}

fn shore_events_total(metrics: &Metrics) -> u64 {
    let text = metrics.encode();
    let line = text
        .lines()
        .find(|l| l.starts_with("seawatch_shore_events_total{") && l.contains(SHIP))
        .unwrap_or_else(|| panic!("no seawatch_shore_events_total for {SHIP} in:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn acks(out: &[Down]) -> Vec<u64> {
    out.iter()
        .filter_map(|d| match d {
            Down::Ack { next, .. } => Some(*next),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_events_land_in_clickhouse_once_each_across_a_shore_restart() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let (_server, url) = match seawatch_tests::clickhouse::get_server() {
        Ok(s) => s,
        Err(e) if !ci => {
            eprintln!("[clickhouse shore] SKIPPED: no ClickHouse server: {e}");
            return;
        }
        Err(e) => panic!("no ClickHouse server under CI: {e}"),
    };
    let mut cfg = ClickHouseConfig::new(url);
    cfg.database = format!("shore_test_{}", std::process::id());
    cfg.table = "fleet_events".into();

    // Shore node, first life: two batches stored, positions moved.
    let store = ClickHouseFleetStore::open(cfg.clone()).await.unwrap();
    let metrics = Metrics::new();
    let mut shore = Shore::new("shore-1", store.clone() as Arc<dyn FleetStore>)
        .with_metrics(SyncMetrics::register(&metrics));
    let out = tokio::task::block_in_place(|| {
        let mut out = shore.on_up(batch(1, 201), 1);
        out.extend(shore.on_up(batch(201, 401), 2));
        // A resend of the first batch (its ack was lost) stores nothing.
        out.extend(shore.on_up(batch(1, 201), 3));
        out
    });
    assert_eq!(acks(&out), vec![201, 401, 401]);
    assert_eq!(shore_events_total(&metrics), 400);
    // The crash: the next batch's events reached ClickHouse, its position did not.
    assert_eq!(
        store.store_events(SHIP, &events(401, 601)).await.unwrap(),
        (200, 0)
    );
    drop(shore);
    drop(store);

    // Restart: a new process (new store handle, new metrics) re-applies that batch.
    let store = ClickHouseFleetStore::open(cfg.clone()).await.unwrap();
    assert_eq!(store.try_positions(SHIP).unwrap()[Lane::Bulk.index()], 401);
    let metrics = Metrics::new();
    let mut shore = Shore::new("shore-1", store.clone() as Arc<dyn FleetStore>)
        .with_metrics(SyncMetrics::register(&metrics));
    let out = tokio::task::block_in_place(|| {
        let mut out = shore.on_up(batch(401, 601), 10);
        out.extend(shore.on_up(batch(601, 801), 11));
        out
    });
    assert_eq!(acks(&out), vec![601, 801]);
    assert_eq!(
        shore_events_total(&metrics),
        800,
        "counter = distinct events stored"
    );

    // Audit in ClickHouse itself, by identity.
    #[derive(clickhouse::Row, serde::Deserialize, Debug)]
    struct Audit {
        rows: u64,
        distinct: u64,
        lo: u64,
        hi: u64,
    }
    let a: Audit = store
        .sink()
        .client()
        .query(
            "SELECT count() AS rows, uniqExact(seq) AS distinct, min(seq) AS lo, max(seq) AS hi \
             FROM fleet_events WHERE ship = ?",
        )
        .bind(SHIP)
        .fetch_one()
        .await
        .unwrap();
    eprintln!("[clickhouse shore] {a:?}");
    assert_eq!((a.rows, a.distinct, a.lo, a.hi), (800, 800, 1, 800));
    assert_eq!(store.duplicate_rows(SHIP).await.unwrap(), 0);
    assert_eq!(tokio::task::block_in_place(|| store.count(SHIP)), 800);
    let _ = store
        .sink()
        .client()
        .query(&format!("DROP DATABASE `{}`", cfg.database))
        .execute()
        .await;
}
